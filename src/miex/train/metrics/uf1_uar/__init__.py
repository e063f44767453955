"""Folder of the ``evaluate`` metric module ``uf1_uar.py``; a package only so wheels ship the module file."""

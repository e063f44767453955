"""Launchable entry point of MiE-X synthesis in a checkout: the same options and code as ``miex synthesize``.

    python builder.py                                                  # embedded default into ./miex
    accelerate launch builder.py --faces pool/ --pool au_pool.parquet     # every GPU of the machine
    torchrun --standalone --nproc_per_node 2 builder.py ...            # two CPU ranks

``builder.py`` as written resolves only in the repository root; from any folder, launch the module instead:
``torchrun --standalone --nproc_per_node 2 -m miex synthesize ...``, ``accelerate launch -m miex
synthesize ...``. For the ``datasets`` builder class, see :mod:`miex.data.builder` (``MiEX``).
"""

from miex.cli.synthesize import main
from miex.core.processes import exit_process

if __name__ == "__main__":
    exit_process(main())

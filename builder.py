"""Launchable entry point of MiE-X synthesis in a checkout: the same options and code as ``miex synthesize``.

    python builder.py                                                  # embedded default into ./miex
    accelerate launch builder.py --faces pool/ --pool au_pool.parquet     # every GPU of the machine
    torchrun --standalone --nproc_per_node 2 builder.py ...            # two CPU ranks

``builder.py`` as written resolves only in the repository root; from any folder, launch the module instead:
``torchrun --standalone --nproc_per_node 2 -m miex_dataset synthesize ...``, ``accelerate launch -m miex_dataset
synthesize ...``. For the ``datasets`` builder class, see :mod:`miex_dataset.builder` (``MiEX``).
"""

from miex_dataset.cli.synthesize import main
from miex_dataset.processes import exit_process

if __name__ == "__main__":
    exit_process(main())

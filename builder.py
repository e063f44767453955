"""Launchable entry point of MiE-X synthesis: the same options and code as ``miex synthesize``.

    python builder.py                                                  # embedded default into ./miex
    accelerate launch builder.py --faces pool/ --pool au_pool.parquet     # every GPU of the machine
    torchrun --standalone --nproc_per_node 2 builder.py ...            # two CPU ranks

For the ``datasets`` builder class, see :mod:`miex_dataset.builder` (``MiEX``).
"""

from miex_dataset.cli.synthesize import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m miex COMMAND ...`` runs the ``miex`` command line: from an unactivated environment, and under
launchers that start Python modules, from any folder (``torchrun --standalone --nproc_per_node 2 -m miex
synthesize ...``, ``accelerate launch -m miex synthesize ...``)."""

from miex.cli import console

if __name__ == "__main__":
    console()

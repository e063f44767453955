"""``python -m miex_dataset COMMAND ...`` runs the ``miex`` command line: from an unactivated environment, and under
launchers that start Python modules, from any folder (``torchrun --standalone --nproc_per_node 2 -m miex_dataset
synthesize ...``, ``accelerate launch -m miex_dataset synthesize ...``)."""

from miex_dataset.cli import console

if __name__ == "__main__":
    console()

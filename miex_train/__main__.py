"""``python -m miex_train --recipe NAME|FILE.yaml``: ``miex train`` as a module, so launchers that start Python
modules run it from any folder (``train.py`` is the same entry point, for a checkout)::

    torchrun --standalone --nproc_per_node 2 -m miex_train --recipe R.yaml    # 2 CPU processes (gloo)
    accelerate launch -m miex_train --recipe R.yaml                           # every GPU of the machine
"""

from miex_dataset.processes import exit_process
from miex_train.cli.train import main

if __name__ == "__main__":
    exit_process(main(prog="python -m miex_train"))

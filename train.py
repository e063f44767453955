"""Train and evaluate a recognizer from a recipe in a checkout: the same code as ``miex train``.

python train.py --recipe table1_branches_miex_finetune
torchrun --standalone --nproc_per_node 2 train.py --recipe RECIPE.yaml
accelerate launch train.py --recipe RECIPE.yaml

``train.py`` as written resolves only in the repository root; from any folder, launch the module instead:
``torchrun --standalone --nproc_per_node 2 -m miex train --recipe R.yaml``, ``accelerate launch -m miex train
--recipe R.yaml`` (``python -m miex train`` for one process).
"""

from miex.cli.train import main
from miex.core.processes import exit_process

if __name__ == "__main__":
    exit_process(main())

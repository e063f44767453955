"""Train and evaluate a recognizer from a recipe: the same code as ``miex train``.

python train.py --recipe table1_branches_miex_finetune
torchrun --standalone --nproc_per_node 2 train.py --recipe RECIPE.yaml
accelerate launch train.py --recipe RECIPE.yaml
"""

from miex_train.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())

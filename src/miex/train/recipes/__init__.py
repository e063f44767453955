"""The paper's experiments as recipes (YAML), installed with the package: ``miex train --recipe NAME``
(``miex train --list-recipes`` lists them). The repository's ``recipes/`` is a link to this folder."""

"""UF1 / UAR as an ``evaluate`` metric (pooled definition of docs/reference.md §Protocols and metrics; see
miex.train.metrics.scores)."""

import datasets
import evaluate

from miex.train.metrics.scores import uf1_uar

_DESCRIPTION = """
Unweighted F1 (UF1) and unweighted average recall (UAR) of micro-expression recognition, computed from one
confusion matrix of all predictions given (feed the concatenated out-of-fold predictions of every test fold).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    num_classes (int): size of the label space (default 3: negative, positive, surprise).
    absent (str): "exclude" (default) leaves a class absent from both truth and predictions out of the mean;
        "zero" scores it 0. The result reports num_classes_scored.
Returns:
    uf1, uar, f1_per_class, recall_per_class, support, confusion_matrix, num_classes_scored, absent.
Examples:
    >>> metric = evaluate.load(miex.train.metrics.UF1_UAR)
    >>> metric.compute(predictions=[0, 1, 2], references=[0, 1, 1])["uar"]
    0.5
"""

_CITATION = """
@inproceedings{liu2022miex,
  title={Micro-expression Recognition with Synthetic Data (MiE-X)},
  booktitle={ECCV}, year={2022}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UF1UAR(evaluate.Metric):
    """Pooled UF1 / UAR with per-class F1, recall and the confusion matrix."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_classes=3, absent="exclude"):
        return uf1_uar(predictions, references, num_classes, absent=absent)

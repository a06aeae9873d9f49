"""The HCE of a task: the table-shaped one, or the adapter its `layout` names (task.yaml)."""

from evaluation.billion_words import BillionWordHCE
from evaluation.covid_vaccine import CovidVaccineHCE
from evaluation.denoising import DenoisingHCE
from evaluation.file_labels import FileLabelsHCE
from evaluation.gesture_archives import GestureArchivesHCE
from evaluation.gi_tract import GiTractHCE
from evaluation.gnss_trips import GnssTripsHCE
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.hubmap import HubmapHCE
from evaluation.json_records import JsonRecordsHCE
from evaluation.mlsp_birds import MlspBirdsHCE
from evaluation.nfl_contact import NflContactHCE
from evaluation.osic_fibrosis import OsicFibrosisHCE
from evaluation.purchase_weeks import PurchaseWeeksHCE
from evaluation.question_answering import QuestionAnsweringHCE
from evaluation.streamed_table import StreamedTableHCE
from evaluation.task import Task, TaskError
from evaluation.text_normalization import TextNormalizationHCE

# Adapters for competitions whose files are not CSV tables of rows, by task.yaml's `layout`.
LAYOUTS: dict[str, type[HiddenConsistentEvaluation]] = {
    "stanford-covid-vaccine": CovidVaccineHCE,
    "osic-pulmonary-fibrosis-progression": OsicFibrosisHCE,
    "billion-word-imputation": BillionWordHCE,
    "denoising-dirty-documents": DenoisingHCE,
    "file-labels": FileLabelsHCE,
    "gesture-archives": GestureArchivesHCE,
    "gnss-trips": GnssTripsHCE,
    "hubmap-kidney-segmentation": HubmapHCE,
    "json-records": JsonRecordsHCE,
    "mlsp-2013-birds": MlspBirdsHCE,
    "nfl-contact": NflContactHCE,
    "purchase-weeks": PurchaseWeeksHCE,
    "question-answering": QuestionAnsweringHCE,
    "streamed-table": StreamedTableHCE,
    "text-normalization": TextNormalizationHCE,
    "uw-madison-gi-tract": GiTractHCE,
}


def hidden_consistent_evaluation(
    task: Task,
    split_seed: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    hidden_split: bool = True,
) -> HiddenConsistentEvaluation:
    """The evaluator of `task`: its layout's adapter when task.yaml names one, else the generic HCE
    (`hidden_split=False`: the ablation hce.enabled=false, for tasks of CSV rows only)."""
    layout = task.spec.layout
    if layout is None:
        return HiddenConsistentEvaluation(task, split_seed, fractions, hidden_split)
    if layout == "streamed-table":  # the table HCE, streamed: it has the "no HCE" ablation too
        return StreamedTableHCE(task, split_seed, fractions, hidden_split)
    if not hidden_split and layout in LAYOUTS and LAYOUTS[layout].folds_hidden:
        hce = LAYOUTS[layout](task, split_seed, fractions)
        hce.fold_hidden_into_train()
        return hce
    if not hidden_split:
        raise TaskError(
            f"{task.root / 'task.yaml'}: hce.enabled=false is not supported for layout {layout!r} yet; "
            "run this task with hce.enabled=true"
        )
    if layout not in LAYOUTS:
        raise TaskError(
            f"{task.root / 'task.yaml'}: unknown layout {layout!r}; known layouts are "
            f"{', '.join(sorted(LAYOUTS))} (or remove the key for CSV tables of rows)"
        )
    return LAYOUTS[layout](task, split_seed, fractions)

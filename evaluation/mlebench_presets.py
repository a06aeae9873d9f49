"""What HCE needs to know of each MLE-bench competition besides its files, read off mle-bench's own
`prepare.py` (how it split, where it put which file) and `grade.py` (what it scores): the graders fixed
where mle-bench's config names the wrong one, the competitions covered, their task.yaml presets, and
why the others are not covered yet. evaluation/mlebench.py turns these into task directories.
"""

from typing import Any

from evaluation.bias_metrics import IDENTITY_COLUMNS, TOXICITY

# Where mle-bench's config.yaml names a grader that does not score the competition as its grade.py and
# Kaggle do: a wrong name (ventilator, stanford-covid), or a generic name whose grade.py scores
# differently (gesture-level edit distance, label-weighted LRAP, accuracy on exact strings, F1 on
# JSONL answers).
GRADER_FIXES = {
    "ventilator-pressure-prediction": "mean-absolute-error",
    "stanford-covid-vaccine": "mean-column-wise-rmse",
    "multi-modal-gesture-recognition": "gesture-edit-distance",
    "freesound-audio-tagging-2019": "label-weighted-lrap",
    "text-normalization-challenge-english-language": "exact-accuracy",
    "text-normalization-challenge-russian-language": "exact-accuracy",
    "tensorflow2-question-answering": "question-answering-f1",
}

# Competitions of MLE-bench-30 and Lite whose prepared data (per mle-bench's prepare.py) HCE can split
# (rows of a labels CSV, inputs in its columns or in files per row) and whose grader is computed
# exactly by evaluation.metrics. Not run here: this machine has no Kaggle data; the tests lay out
# synthetic data as each prepare.py does, and the loader checks the layout of the real files anyway.
COVERED = {
    "new-york-city-taxi-fare-prediction": "RMSE on fare_amount; labels.csv's 55M rows streamed, 200,000 "
    "each hidden in D_search and D_val (evaluation/streamed_table.py)",
    "nomad2018-predict-transparent-conductors": "mean column-wise RMSLE on the two energies",
    "us-patent-phrase-to-phrase-matching": "Pearson correlation on score",
    "tweet-sentiment-extraction": "word-level Jaccard on selected_text",
    "ventilator-pressure-prediction": "MAE on pressure, u_out == 0 rows only, breaths kept whole",
    "champs-scalar-coupling": "log-MAE averaged over coupling types, molecules kept whole",
    "spooky-author-identification": "multi-class log loss, one probability column per author",
    "jigsaw-toxic-comment-classification-challenge": "column-wise ROC AUC, rows labelled -1 unscored (Lite)",
    "tabular-playground-series-may-2022": "ROC AUC on target (Lite)",
    "tabular-playground-series-dec-2021": "accuracy on Cover_Type (Lite)",
    "leaf-classification": "multi-class log loss over 99 species, from the tabular leaf features (Lite)",
    "aptos2019-blindness-detection": "quadratic weighted kappa on diagnosis; one PNG per row",
    "cassava-leaf-disease-classification": "accuracy on label; one JPEG per row, TFRecords left out",
    "plant-pathology-2021-fgvc8": "micro F1 over the space-separated labels; one JPEG per row",
    "petfinder-pawpularity-score": "RMSE on Pawpularity; the metadata columns and one JPEG per row",
    "plant-pathology-2020-fgvc7": "column-wise ROC AUC over four classes; one JPEG per row (Lite)",
    "histopathologic-cancer-detection": "ROC AUC on label; one TIFF per row, train_labels.csv (Lite)",
    "dog-breed-identification": "multi-class log loss over 120 breeds; one JPEG per row, labels.csv (Lite)",
    "imet-2020-fgvc7": "micro F1 over the space-separated attribute ids; one PNG per row",
    "hotel-id-2021-fgvc8": "MAP@5 on hotel_id; one JPEG per row, in a folder per chain for labelled rows",
    "whale-categorization-playground": "MAP@5 on Id; a whale no D_train image shows is new_whale",
    "bms-molecular-translation": "mean Levenshtein distance of the InChI strings; one PNG per row",
    "freesound-audio-tagging-2019": "label-weighted LRAP over 80 classes; WAV clips in zip archives",
    "siim-isic-melanoma-classification": "ROC AUC; a DICOM and a JPEG per row, patients kept whole (Lite)",
    "ranzcr-clip-catheter-line-classification": "column-wise ROC AUC; annotations cut to D_train (Lite)",
    "aerial-cactus-identification": "ROC AUC on has_cactus; one JPEG per row in train.zip, test.zip (Lite)",
    "kuzushiji-recognition": "micro F1 of predicted character centres inside same-label boxes; one JPEG "
    "per page in train_images.zip, test_images.zip",
    "stanford-covid-vaccine": "MCRMSE over the three scored per-base targets on the scored positions; "
    "molecules of train.json kept whole (evaluation/covid_vaccine.py)",
    "osic-pulmonary-fibrosis-progression": "modified Laplace log-likelihood on each patient's 3 latest "
    "measured weeks; patients kept whole, a row per week (evaluation/osic_fibrosis.py)",
    "billion-word-imputation": "mean Levenshtein distance of the restored sentences; lines of the zipped "
    "text streamed, one inner word of each hidden one removed (evaluation/billion_words.py)",
    "hms-harmful-brain-activity-classification": "KL divergence of the vote shares; EEG and spectrogram "
    "parquet files per row, spectrograms kept whole, an opaque eeg_id per hidden labelled window",
    "hubmap-kidney-segmentation": "mean Dice of the RLE masks; slides kept whole (12 labelled: one each in "
    "D_search and D_val), sizes from the dataset information (evaluation/hubmap.py)",
    "tensorflow2-question-answering": "F1 over the long and short answers; examples of the JSONL train file "
    "streamed, each kept whole, hidden ones with the test fields (evaluation/question_answering.py)",
    "denoising-dirty-documents": "RMSE over the pixels of the cleaned pages; pages kept whole, hidden ones "
    "dirty in test/ under opaque names (evaluation/denoising.py) (Lite)",
    "mlsp-2013-birds": "ROC AUC over (recording, species) pairs; recordings kept whole, hidden ones `?` "
    "under opaque filenames and fresh numbers in every file (evaluation/mlsp_birds.py)",
    "dogs-vs-cats-redux-kernels-edition": "log loss on label (dog); JPEGs labelled by file name in "
    "train/ and train.zip, no labels CSV (Lite)",
    "the-icml-2013-whale-challenge-right-whale-redux": "ROC AUC on probability; AIFF clips labelled by "
    "file name in train2.zip, recordings kept whole (Lite)",
    "text-normalization-challenge-english-language": "accuracy of `after` compared as exact strings, per "
    "token; sentences kept whole, opaque sentence numbers (evaluation/text_normalization.py) (Lite)",
    "text-normalization-challenge-russian-language": "as the English one, on ru_train.csv.zip (Lite)",
    "random-acts-of-pizza": "ROC AUC on requester_received_pizza; records of train.json, hidden ones cut "
    "to test.json's fields (evaluation/json_records.py) (Lite)",
    "detecting-insults-in-social-commentary": "ROC AUC on Insult, rows keyed by the comment's text, which "
    "hidden rows keep; a comment repeated in train.csv stays in D_train (Lite)",
    "uw-madison-gi-tract-image-segmentation": "0.4 x Dice + 0.6 x (1 - 3-D Hausdorff per case-day) of "
    "the RLE masks, rows keyed by (id, class); cases kept whole, hidden ones under opaque case numbers "
    "(evaluation/gi_tract.py)",
    "nfl-player-contact-detection": "Matthews correlation of the 0/1 contacts; plays kept whole, hidden "
    "ones under opaque game keys in the contact ids, the tracking, helmet and video tables and the "
    "videos' names (evaluation/nfl_contact.py)",
    "smartphone-decimeter-2022": "mean over trips of the 50th and 95th percentile haversine errors, rows "
    "keyed by (tripId, UnixTimeMillis); dates of drives kept whole, hidden trips without their reference "
    "positions (ground_truth.csv, span_log.nmea) (evaluation/gnss_trips.py)",
    "multi-modal-gesture-recognition": "the sum of the gesture sequences' edit distances over the number "
    "of true gestures; hidden samples renamed in test.tar.gz with their _data.mat's Labels emptied "
    "(evaluation/gesture_archives.py)",
    "h-and-m-personalized-fashion-recommendations": "MAP@12 of each customer's predicted articles over "
    "the customers who bought in the week; the agent's transactions end a week earlier still, that "
    "week's buyers split into D_search and D_val (evaluation/purchase_weeks.py)",
    "jigsaw-unintended-bias-in-toxicity-classification": "overall and per-identity bias ROC AUCs of "
    "`prediction` against the answers' toxicity (train.csv's target) and identity columns",
}

# What HCE needs to know of a competition besides its files, read off mle-bench's prepare.py (how
# it split) and grade.py (which rows and answer columns it scores). task.yaml keys of evaluation.task.
PRESETS: dict[str, dict[str, Any]] = {
    "ventilator-pressure-prediction": {"group_column": "breath_id", "score_where": {"u_out": 0}},
    "champs-scalar-coupling": {"group_column": "molecule_name", "answer_columns": ["type"]},
    "spooky-author-identification": {"label_column": "author"},
    "leaf-classification": {"label_column": "species"},
    # 55M labelled rows, streamed; 200,000 rows each in D_search and D_val (evaluation/streamed_table.py).
    "new-york-city-taxi-fare-prediction": {
        "layout": "streamed-table",
        "train_file": "labels.csv",
        "max_hidden_rows": 200_000,
    },
    "jigsaw-toxic-comment-classification-challenge": {"skip_where": {"toxic": -1}},
    # Images, one file per row, in a folder for the labelled rows and one for the test rows.
    "aptos2019-blindness-detection": {
        "row_files": {"train": ["train_images/{id_code}.png"], "test": ["test_images/{id_code}.png"]}
    },
    "petfinder-pawpularity-score": {"row_files": {"train": ["train/{Id}.jpg"], "test": ["test/{Id}.jpg"]}},
    # No test CSV: the test rows are the sample submission's ids. The TFRecords stay out of the agent's
    # copy: they hold the images of the hidden rows under their names, with their labels.
    "cassava-leaf-disease-classification": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train_images/{image_id}"], "test": ["test_images/{image_id}"]},
        "public_files": ["label_num_to_disease_map.json"],
    },
    "plant-pathology-2021-fgvc8": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train_images/{image}"], "test": ["test_images/{image}"]},
    },
    # One folder for the images of train and test rows alike.
    "plant-pathology-2020-fgvc7": {
        "row_files": {"train": ["images/{image_id}.jpg"], "test": ["images/{image_id}.jpg"]}
    },
    "histopathologic-cancer-detection": {
        "train_file": "train_labels.csv",
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train/{id}.tif"], "test": ["test/{id}.tif"]},
    },
    "imet-2020-fgvc7": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train/{id}.png"], "test": ["test/{id}.png"]},
        "public_files": ["labels.csv"],
    },
    # The labelled images sit in one folder per hotel chain; the test images in one flat folder, so the
    # chain (which narrows the hotel down) is not given away.
    "hotel-id-2021-fgvc8": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train_images/{chain}/{image}"], "test": ["test_images/{image}"]},
    },
    # The images are members of train.zip and test.zip; the agent's copy gets archives of its own.
    "aerial-cactus-identification": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train.zip/{id}"], "test": ["test.zip/{id}"]},
    },
    # A page per row: its characters' boxes in `labels` (NaN for a page without any), its JPEG a
    # member of train_images.zip; prepare.py's test pages are in test_images.zip, listed only by
    # sample_submission.csv (the answers' boxes in private/test.csv).
    "kuzushiji-recognition": {
        "test_file": "sample_submission.csv",
        "row_files": {
            "train": ["train_images.zip/{image_id}.jpg"],
            "test": ["test_images.zip/{image_id}.jpg"],
        },
        "public_files": ["unicode_translation.csv"],
    },
    # Two files per image (DICOM and JPEG); patients kept whole. The TFRecords stay out (hidden rows).
    "siim-isic-melanoma-classification": {
        "group_column": "patient_id",
        "row_files": {
            "train": ["train/{image_name}.dcm", "jpeg/train/{image_name}.jpg"],
            "test": ["test/{image_name}.dcm", "jpeg/test/{image_name}.jpg"],
        },
    },
    # The catheter annotations of D_train's images only, as prepare.py keeps its train rows' only.
    "ranzcr-clip-catheter-line-classification": {
        "group_column": "PatientID",
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train/{StudyInstanceUID}.jpg"], "test": ["test/{StudyInstanceUID}.jpg"]},
        "train_tables": {"train_annotations.csv": "StudyInstanceUID"},
    },
    # Clips in zip archives; labels of the curated clips as comma-separated classes, multi-hot encoded.
    # The noisy set (other clips, their own labels) is kept whole as extra training data.
    "freesound-audio-tagging-2019": {
        "train_file": "train_curated.csv",
        "label_column": "labels",
        "label_separator": ",",
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train_curated.zip/{fname}"], "test": ["test.zip/{fname}"]},
        "public_files": ["train_noisy.csv", "train_noisy.zip"],
    },
    # Images nested by the first three characters of their id (the hidden ones by their opaque id's).
    "bms-molecular-translation": {
        "train_file": "train_labels.csv",
        "test_file": "sample_submission.csv",
        "row_files": {
            "train": ["train/{image_id[0]}/{image_id[1]}/{image_id[2]}/{image_id}.png"],
            "test": ["test/{image_id[0]}/{image_id[1]}/{image_id[2]}/{image_id}.png"],
        },
        "public_files": ["extra_approved_InChIs.csv"],
    },
    # A whale no D_train image shows is `new_whale`, as prepare.py relabels its answers.
    "whale-categorization-playground": {
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train/{Image}"], "test": ["test/{Image}"]},
        "unseen_label": "new_whale",
    },
    # The submission's `prediction` is graded against the answers' `toxicity` (train.csv's `target`) and
    # the identity columns; the agent's test rows keep test.csv's columns only (id, comment_text).
    "jigsaw-unintended-bias-in-toxicity-classification": {
        "targets_in_answers": False,
        "answer_columns": [TOXICITY, *IDENTITY_COLUMNS],
        "train_columns": {TOXICITY: "target"},
    },
    # Molecules in JSON lines, one submission row per base; five targets submitted, three scored.
    "stanford-covid-vaccine": {
        "layout": "stanford-covid-vaccine",
        "train_file": "train.json",
        "test_file": "test.json",
        "scored_columns": ["reactivity", "deg_Mg_pH10", "deg_Mg_50C"],
        "score_where": {"keep": "True"},
    },
    # Patients with their CT scans in a folder each; the forecast is a row per patient and week.
    "osic-pulmonary-fibrosis-progression": {
        "layout": "osic-pulmonary-fibrosis-progression",
        "answer_columns": ["Patient"],
    },
    # Sentences, one per line of a zipped text file; the sample submission only in prepared/private.
    "billion-word-imputation": {
        "layout": "billion-word-imputation",
        "train_file": "train_v2.txt.zip",
        "test_file": "test_v2.txt.zip",
        "sample_in_private": True,
    },
    # Several labelled windows of one EEG share its eeg_id, the submission's id, and test.csv cannot
    # tell them apart (no offsets): a row is keyed by label_id, and each hidden row gets an opaque eeg_id
    # of its own (its EEG file linked under it). Spectrograms kept whole, as prepare.py splits.
    "hms-harmful-brain-activity-classification": {
        "row_key": "label_id",
        "group_column": "spectrogram_id",
        "row_files": {
            "train": ["train_eegs/{eeg_id}.parquet", "train_spectrograms/{spectrogram_id}.parquet"],
            "test": ["test_eegs/{eeg_id}.parquet", "test_spectrograms/{spectrogram_id}.parquet"],
        },
        "public_files": ["example_figures"],
    },
    # Slides as TIFFs, glomeruli as RLE masks; the sizes the grader needs are in the dataset
    # information, the polygon files (the labels again) of D_train's slides only (evaluation/hubmap.py).
    "hubmap-kidney-segmentation": {
        "layout": "hubmap-kidney-segmentation",
        "test_file": "sample_submission.csv",
        "targets_in_answers": False,
        "answer_columns": ["encoding", "width_pixels", "height_pixels"],
        "row_files": {
            "train": ["train/{id}.tiff", "train/{id}-anatomical-structure.json"],
            "test": ["test/{id}.tiff", "test/{id}-anatomical-structure.json"],
        },
    },
    # Pages with a question each, as JSON lines, streamed (evaluation/question_answering.py).
    "tensorflow2-question-answering": {
        "layout": "question-answering",
        "train_file": "simplified-nq-train.jsonl",
        "test_file": "simplified-nq-test.jsonl",
    },
    # Pages as PNGs, dirty and cleaned, scored per pixel (evaluation/denoising.py).
    "denoising-dirty-documents": {
        "layout": "denoising-dirty-documents",
        "train_file": "train",
        "test_file": "test",
        "sample_file": "sampleSubmission.csv",
    },
    # Recordings with their labels in a text file and files named by recording (evaluation/mlsp_birds.py).
    "mlsp-2013-birds": {
        "layout": "mlsp-2013-birds",
        "train_file": "essential_data/rec_labels_test_hidden.txt",
        "test_file": "essential_data/CVfolds_2.txt",
    },
    # Labelled by file name, no labels CSV (evaluation/file_labels.py). prepare.py leaves the images
    # both in folders and in archives of the same files.
    "dogs-vs-cats-redux-kernels-edition": {
        "layout": "file-labels",
        "train_file": "train.zip",
        "test_file": "test.zip",
        "file_labels": {
            "listing": "train.zip",
            "pattern": r"(?P<id>(?P<label>cat|dog)\.\d+)\.jpg",
            "labels": {"cat": 0, "dog": 1},
        },
        "row_files": {
            "train": ["train/{id}.jpg", "train.zip/{id}.jpg"],
            "test": ["test/{id}.jpg", "test.zip/{id}.jpg"],
        },
    },
    # Clips `<date>_<time>_<offset>_TRAIN<k>_<label>.aif`: a recording (date and start time) is kept
    # whole, so that the clips of one recording are not split.
    "the-icml-2013-whale-challenge-right-whale-redux": {
        "layout": "file-labels",
        "train_file": "train2.zip",
        "test_file": "test2.zip",
        "sample_file": "sampleSubmission.csv",
        "group_column": "recording",
        "file_labels": {
            "listing": "train2.zip/train2",
            "pattern": r"(?P<id>(?P<recording>\d{8}_\d{6})_.*_TRAIN\d+_(?P<label>[01])\.aif)",
            "labels": {"0": 0, "1": 1},
        },
        "row_files": {"train": ["train2.zip/train2/{clip}"], "test": ["test2.zip/test2/{clip}"]},
    },
    # Sentences of tokens in zipped CSVs, kept whole (evaluation/text_normalization.py); the sample
    # the grader reads is in prepared/private, the agent's zipped one is written afresh.
    "text-normalization-challenge-english-language": {
        "layout": "text-normalization",
        "train_file": "en_train.csv.zip",
        "test_file": "en_test_2.csv.zip",
        "sample_in_private": True,
    },
    "text-normalization-challenge-russian-language": {
        "layout": "text-normalization",
        "train_file": "ru_train.csv.zip",
        "test_file": "ru_test_2.csv.zip",
        "sample_in_private": True,
    },
    # Requests as records of a JSON list; hidden ones get test.json's fields only.
    "random-acts-of-pizza": {
        "layout": "json-records",
        "train_file": "train.json",
        "test_file": "test.json",
        "sample_file": "sampleSubmission.csv",
    },
    # No id column: the grader matches rows by the comment itself, so it stays the id (keep_ids); the
    # sample's Date is copied from the test inputs. prepare.py's sample is sample_submission_null.csv.
    "detecting-insults-in-social-commentary": {
        "sample_file": "sample_submission_null.csv",
        "id_column": "Comment",
        "target_columns": ["Insult"],
        "keep_ids": True,
    },
    # MRI slices as PNGs, one submission row per slice and organ class (evaluation/gi_tract.py).
    "uw-madison-gi-tract-image-segmentation": {
        "layout": "uw-madison-gi-tract",
        "target_columns": ["predicted"],
        "key_columns": ["class"],
    },
    # Contacts per play and step, the test rows in the sample only (evaluation/nfl_contact.py).
    "nfl-player-contact-detection": {
        "layout": "nfl-contact",
        "train_file": "train_labels.csv",
        "test_file": "sample_submission.csv",
    },
    # A folder per trip of GNSS and IMU logs, positions per epoch (evaluation/gnss_trips.py).
    "smartphone-decimeter-2022": {
        "layout": "gnss-trips",
        "train_file": "train",
        "test_file": "test",
        "id_column": "tripId",
        "target_columns": ["LatitudeDegrees", "LongitudeDegrees"],
        "key_columns": ["UnixTimeMillis"],
    },
    # Kinect recordings, a zip each in .tar.gz archives, a gesture sequence per sample
    # (evaluation/gesture_archives.py).
    "multi-modal-gesture-recognition": {
        "layout": "gesture-archives",
        "train_file": "training.csv",
        "sample_file": "randomPredictions.csv",
        "target_columns": ["Sequence"],
    },
    # Transactions over time, every customer predicted, the week's buyers scored
    # (evaluation/purchase_weeks.py).
    "h-and-m-personalized-fashion-recommendations": {
        "layout": "purchase-weeks",
        "train_file": "transactions_train.csv",
        "test_file": "sample_submission.csv",
    },
    "dog-breed-identification": {
        "train_file": "labels.csv",
        "label_column": "breed",
        "test_file": "sample_submission.csv",
        "row_files": {"train": ["train/{id}.jpg"], "test": ["test/{id}.jpg"]},
    },
}

# Competitions known not to be covered yet, each with its reason (read off mle-bench's prepare.py and
# grade.py): none of MLE-bench-30 and Lite today. One named here is refused with that reason.
NOT_YET: dict[str, str] = {}

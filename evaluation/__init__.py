"""Hidden Consistent Evaluation, metrics, leaderboards and task loading (plain Python, no Ray).

No re-exports: import the module you need (`evaluation.hce`, `evaluation.task`, ...), so that a
process that needs one light module (the search coordinator, an experiment worker) does not import
the whole scoring stack (pandas, scikit-learn, SciPy).
"""

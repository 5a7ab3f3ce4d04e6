"""Azure ML API shims so unchanged score.py files import AMLRequest, AMLResponse and rawhttp."""

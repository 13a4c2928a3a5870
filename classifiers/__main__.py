"""``python -m classifiers train|classify|model-versions|model-activate``."""

from classifiers.cli import main

if __name__ == "__main__":
    main(prog_name="python -m classifiers")

"""atheris harness for the ``http2`` target of targets.py; --help lists libFuzzer's flags."""

from _atheris import main

if __name__ == "__main__":
    main("http2")

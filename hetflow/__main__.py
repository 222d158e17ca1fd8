"""``python -m hetflow`` runs the ``hetflow`` command."""

from hetflow.cli import main

if __name__ == "__main__":
    main()

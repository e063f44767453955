"""miex.core: what every layer above shares: errors, validation reports, the file contract
(fileio), paths, progress, processes, pixel conversions, lazy names and the learning-rate schedule. It imports
nothing else of miex."""

__version__ = "0.1.0"

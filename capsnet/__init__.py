"""CapsNet lab: the CapsNet of Sabour, Frosst and Hinton (2017) beside a CNN.

The package imports nothing heavy here, so training (which needs only Keras and numpy)
runs where the page's libraries are not installed.
"""

__version__ = "0.1.0"

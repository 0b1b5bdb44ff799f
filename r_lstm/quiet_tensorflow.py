"""Imported for its effect: TensorFlow and Keras, imported without their
start-up notices (`r_lstm.startup`; `--verbosity` on the command line keeps
them). A command-line tool imports this module before any module that
imports TensorFlow; `r_lstm.train` only once its flags, config and workdir
have passed the checks that need no TensorFlow, so that a mistake there is
answered in well under a second instead of after TensorFlow's import."""

import sys

from r_lstm import startup

startup.import_tensorflow(verbose=startup.verbosity_requested(sys.argv))

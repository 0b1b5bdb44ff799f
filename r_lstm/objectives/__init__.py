"""Auxiliary objectives: decoders attached to the main LSTM at sampled anchors.

`base.AuxiliaryDecoder` is the interface, one subclass per objective in its
own module, and `catalog.BY_NAME` lists them; a new auxiliary loss is a new
module and a line in the catalog.
"""

"""Auxiliary objectives: decoders attached to the main network at sampled
anchors.

`base.AuxiliaryDecoder` is the interface, one subclass per objective in its
own module; `registry.OBJECTIVES` lists them. A new auxiliary loss is a new
module and a line there (docs/DESIGN.md, "Adding an objective").
"""

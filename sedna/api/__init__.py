"""Typed models of Sedna's custom resources and the wire types shared by GM, LC and workers."""

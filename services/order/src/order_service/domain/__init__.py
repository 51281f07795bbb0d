"""Order rules without I/O: the saga's state machine (`saga`) and pricing (`pricing`)."""

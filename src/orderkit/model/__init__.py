"""The model layer: values only, no I/O and no ports other than :class:`Clock`'s shape.

Money, time, identifiers, canonical orders, audit entries, alerts, serialization and the
error hierarchy. Every other layer builds on these; nothing here imports from above.
"""

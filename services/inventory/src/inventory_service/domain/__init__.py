"""Inventory rules without I/O: stock levels (`stock`) and reservations (`reservations`); the
service package applies them with conditional updates."""

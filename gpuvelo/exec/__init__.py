"""Job execution: V1 processor, V2 coordinator, routing, windows, stats."""

"""How a watch is checked: the check thread, the watch services and topics, watches as parameters and visuals."""

"""The roles (producer, sender, monitor) and the gateway they send through. They see only the ports."""

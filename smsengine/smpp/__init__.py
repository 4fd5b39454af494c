"""SMPP 3.4, sans-I/O: PDU codec, session state machine, delivery receipts, message-id keys."""

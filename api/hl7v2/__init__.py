"""HL7 v2 VXU^V04 messages over HTTP: one message or a batch in, an ACK per message out."""

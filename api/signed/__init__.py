"""A certificate's signed forms (EU DCC, SMART Health Card) and the public revocation lists."""

"""Payment rules as plain Python: the intent's state machine and money (intents.py),
currency conversion (currency.py), risk limits (risk.py), card-token masking (cards.py)."""

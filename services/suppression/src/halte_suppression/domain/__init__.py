"""The suppression service's pure rules: attribution, confirmation, resubscription, retention, numbers."""

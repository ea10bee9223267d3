"""The legal rules more than one service applies, each defined once, as pure functions without I/O.

campaign-api composes and previews with them, the dispatcher decides with them, so a text the
preview approves is never refused at send time for a rule the two read differently. Why each
rule reads as it does is in docs/compliance-rules.md.
"""

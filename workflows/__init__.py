"""Workflow automation AI: definitions, engine, dry runs, builder, reviews (framework-free).

A workflow is data (:mod:`workflows.definition`): a trigger (CRM event, score band crossing,
schedule, prediction threshold, field update), conditions on contact, company, deal and model
fields, and a DAG of actions. The engine (:mod:`workflows.engine`) runs enabled workflows on the
real-time engine's events and on a schedule; actions whose risk class requires it wait in the
review queue (:mod:`workflows.reviews`) until a manager approves them.
"""

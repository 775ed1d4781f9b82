"""The Dagster code location: every definition of the analytics platform."""

import dagster as dg

defs = dg.Definitions()

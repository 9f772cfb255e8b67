//! Threat intelligence: indicator import (STIX 2.1, MISP, CSV/TXT lists) and matching events
//! against them at ingest speed.

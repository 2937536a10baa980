"""Pure functions from decoded exchanges to the parts of the analysis document."""

"""Runtime evidence from traffic: captures and Zeek logs → flows → findings (issue 8)."""

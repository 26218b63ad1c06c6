"""legal-compliance: who can open the files of an FSx for ONTAP volume, and is that too many."""

"""autonomous-driving: catalogue, quality-check and annotate perception drive logs on FSx for ONTAP."""

"""semiconductor-eda: catalogue and design review of GDSII / OASIS tape-out layouts on FSx for ONTAP."""

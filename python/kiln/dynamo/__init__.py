"""The dynamo / torch.export frontend: export -> core aten -> OpGraph (kiln._C) -> partition -> stitch."""

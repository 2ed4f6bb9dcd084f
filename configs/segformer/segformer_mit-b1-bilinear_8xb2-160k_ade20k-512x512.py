# SegFormer MiT-B1, ADE20K 512x512, 160k: the bilinear baseline of the SAPA
# table is mmseg's config unchanged (upstream SegformerHead). The other rows
# inherit it and change only the head.
_base_ = 'mmseg::segformer/segformer_mit-b1_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)

# Faster R-CNN R50-FPN 1x COCO, the nearest baseline of the SAPA COCO table:
# mmdet's config with the FPN replaced by GuidedFPN (identical with 'nearest').
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)
model = dict(neck=dict(type='GuidedFPN', upsample_cfg=dict(type='nearest')))

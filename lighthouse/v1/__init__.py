"""Generated gRPC stubs of the ``lighthouse.v1`` API (proto/lighthouse/v1/*.proto).

Do not edit the ``*_pb2*`` modules by hand: run ``make protos`` (proto/generate.py).
``from lighthouse.v1 import validation_pb2, validation_pb2_grpc, admin_pb2, admin_pb2_grpc``.
"""

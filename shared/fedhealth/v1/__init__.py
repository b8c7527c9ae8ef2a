"""Generated from proto/fedhealth/v1 by fedhealth.protogen. Do not edit."""

variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for default encryption (SSE-KMS with bucket keys)."
}

variable "access_log_bucket" {
  type        = string
  description = "Bucket that receives this bucket's server access logs."
}

variable "access_log_prefix" {
  type        = string
  description = "Key prefix of this bucket's access logs in the log bucket."
}

variable "infrequent_access_after_days" {
  type        = number
  description = "Days before current objects move to STANDARD_IA."
}

variable "cold_after_days" {
  type        = number
  description = "Days before current objects move to the cold storage class."
}

variable "cold_storage_class" {
  type        = string
  description = "Cold storage class: GLACIER_IR (millisecond reads) or DEEP_ARCHIVE (hours)."

  validation {
    condition     = contains(["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.cold_storage_class)
    error_message = "cold_storage_class must be GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "noncurrent_expiration_days" {
  type        = number
  description = "Days after which overwritten or deleted object versions are removed."
  default     = 180
}

variable "object_lock_days" {
  type        = number
  description = "Governance-mode Object Lock retention in days; 0 disables Object Lock (it can only be enabled at creation)."
  default     = 0
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}

variable "platform" {
  # Typed in full by modules/platform (variable "settings"), where it is converted and validated.
  type        = any
  description = "The environment's sizing and identity (terraform.tfvars); see modules/platform/variables.tf."
}

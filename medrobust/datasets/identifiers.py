"""What counts as identifying: DICOM PS3.15 Annex E attributes, identifier-like names and values.

Labels-CSV metadata is kept by allow-list (declared columns and the known clinical ones
below); this module is the one reference the CSV and DICOM readers share.
"""

from __future__ import annotations

import re

from medrobust.datasets.policy import UID_PATTERN

# The attributes of the Basic Application Level Confidentiality Profile, DICOM PS3.15 Annex E
# table E.1-1, as pydicom data-dictionary keywords (``pydicom.datadict.keyword_dict``).
# fmt: off
ANNEX_E_KEYWORDS: tuple[str, ...] = (
    "AccessionNumber", "AcquisitionComments", "AcquisitionContextSequence", "AcquisitionDate",
    "AcquisitionDateTime", "AcquisitionDeviceProcessingDescription", "AcquisitionProtocolDescription",
    "AcquisitionTime", "ActualHumanPerformersSequence", "AdditionalPatientHistory", "AdmissionID", "AdmittingDate",
    "AdmittingDiagnosesCodeSequence", "AdmittingDiagnosesDescription", "AdmittingTime", "AffectedSOPInstanceUID",
    "Allergies", "Arbitrary", "AuthorObserverSequence", "BranchOfService", "CassetteID",
    "CommentsOnThePerformedProcedureStep", "ConcatenationUID", "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorIdentificationCodeSequence", "ContentCreatorName", "ContentDate", "ContentSequence",
    "ContentTime", "ContextGroupExtensionCreatorUID", "ContrastBolusAgent", "ContributionDescription",
    "CountryOfResidence", "CreatorVersionUID", "CurrentPatientLocation", "CurveDate", "CurveTime",
    "CustodialOrganizationSequence", "DataSetTrailingPadding", "DerivationDescription", "DetectorID",
    "DeviceSerialNumber", "DeviceUID", "DigitalSignatureUID", "DigitalSignaturesSequence",
    "DimensionOrganizationUID", "DischargeDiagnosisDescription", "DistributionAddress", "DistributionName",
    "DoseReferenceUID", "EthnicGroup", "FailedSOPInstanceUIDList", "FiducialUID",
    "FillerOrderNumberImagingServiceRequest", "FrameComments", "FrameOfReferenceUID", "GantryID", "GeneratorID",
    "GraphicAnnotationSequence", "HumanPerformerName", "HumanPerformerOrganization", "IconImageSequence",
    "IdentifyingComments", "ImageComments", "ImagePresentationComments", "ImagingServiceRequestComments",
    "Impressions", "InstanceCoercionDateTime", "InstanceCreatorUID", "InstitutionAddress",
    "InstitutionCodeSequence", "InstitutionName", "InstitutionalDepartmentName", "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence", "InterpretationApproverSequence", "InterpretationAuthor",
    "InterpretationDiagnosisDescription", "InterpretationIDIssuer", "InterpretationRecorder", "InterpretationText",
    "InterpretationTranscriber", "IrradiationEventUID", "IssuerOfAdmissionID", "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID", "LargePaletteColorLookupTableUID", "MAC", "MediaStorageSOPInstanceUID",
    "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank", "ModifiedAttributesSequence",
    "ModifiedImageDescription", "ModifyingDeviceID", "ModifyingDeviceManufacturer", "NameOfPhysiciansReadingStudy",
    "NamesOfIntendedRecipientsOfResults", "Occupation", "OperatorIdentificationSequence", "OperatorsName",
    "OrderCallbackPhoneNumber", "OrderEnteredBy", "OrderEntererLocation", "OriginalAttributesSequence",
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "OverlayDate", "OverlayTime",
    "PaletteColorLookupTableUID", "ParticipantSequence", "PatientAddress", "PatientAge", "PatientBirthDate",
    "PatientBirthName", "PatientBirthTime", "PatientComments", "PatientID", "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence", "PatientMotherBirthName", "PatientName",
    "PatientPrimaryLanguageCodeSequence", "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference", "PatientSex", "PatientSexNeutered", "PatientSize", "PatientState",
    "PatientTelephoneNumbers", "PatientTransportArrangements", "PatientWeight", "PerformedLocation",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "PerformedStationAETitle", "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName", "PerformedStationNameCodeSequence", "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName", "PersonAddress", "PersonIdentificationCodeSequence", "PersonName",
    "PersonTelephoneNumbers", "PhysicianApprovingInterpretation", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PlacerOrderNumberImagingServiceRequest", "PlateID", "PreMedication", "PregnancyStatus", "ProtocolName",
    "ReasonForStudy", "ReasonForTheImagingServiceRequest", "ReferencedDigitalSignatureSequence",
    "ReferencedFrameOfReferenceUID", "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID",
    "ReferencedImageSequence", "ReferencedPatientAliasSequence", "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence", "ReferencedSOPInstanceMACSequence", "ReferencedSOPInstanceUID",
    "ReferencedSOPInstanceUIDInFile", "ReferencedStudySequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianName", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RelatedFrameOfReferenceUID", "RequestAttributesSequence", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription", "RequestedProcedureID",
    "RequestedProcedureLocation", "RequestedSOPInstanceUID", "RequestingPhysician", "RequestingService",
    "ResponsibleOrganization", "ResponsiblePerson", "ResultsComments", "ResultsDistributionListSequence",
    "ResultsIDIssuer", "ReviewerName", "SOPInstanceUID", "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence", "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription", "ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepEndTime", "ScheduledProcedureStepLocation", "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime", "ScheduledStationAETitle", "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName", "ScheduledStationNameCodeSequence", "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle", "SeriesDate", "SeriesDescription", "SeriesInstanceUID", "SeriesTime",
    "ServiceEpisodeDescription", "ServiceEpisodeID", "SmokingStatus", "SourceImageSequence", "SpecialNeeds",
    "StationName", "StorageMediaFileSetUID", "StudyComments", "StudyDate", "StudyDescription", "StudyID",
    "StudyIDIssuer", "StudyInstanceUID", "StudyTime", "SynchronizationFrameOfReferenceUID", "TargetUID",
    "TemplateExtensionCreatorUID", "TemplateExtensionOrganizationUID", "TextComments", "TextString",
    "TimezoneOffsetFromUTC", "TopicAuthor", "TopicKeywords", "TopicSubject", "TopicTitle", "TransactionUID", "UID",
    "VerifyingObserverIdentificationCodeSequence", "VerifyingObserverName", "VerifyingObserverSequence",
    "VerifyingOrganization", "VisitComments",
)
# fmt: on

# Coarse, non-identifying clinical columns that a CSV may carry without declaring them (normalised names).
CLINICAL_COLUMNS: frozenset[str] = frozenset(
    {
        "sex",
        "gender",
        "ageband",
        "agegroup",
        "site",
        "scanner",
        "manufacturer",
        "bodypart",
        "bodypartexamined",
        "modality",
        "view",
        "viewposition",
    }
)

_ANNEX_E = {re.sub(r"[^a-z0-9]", "", k.lower()): k for k in ANNEX_E_KEYWORDS}

# Column names of identifiers in the raw text: PatientID, patient_name, SOPInstanceUID, subject_id, file.
_NAME_RAW = re.compile(
    r"patient|name|birth|date|accession|mrn|(^|[_\s-])uid|instanceuid|ssn|address|phone"
    r"|(^|[_\s-])id($|[_\s-])|^file$|^path$",
    re.IGNORECASE,
)
_NAME_CASE = re.compile(r"(ID|Id)$|UID")  # SubjectID, StudyUID; case-sensitive so ``fluid`` and ``grid`` pass
# The same on the normalised name (lower case, letters and digits): dob, e-mail, postcode, nhs_number, ...
_NAME_NORM = re.compile(
    r"dob|dateofbirth|e?mail|postcode|postalcode|zip|nhs|medicalrecord|hospitalnumber|hospitalno|socialsecurity"
    r"|passport|insurance|surname|forename|firstname|lastname|initials|telephone|mobile"
)

_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "dates",
        re.compile(
            rf"\b\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}\b|\b\d{{1,2}}[-/.]\d{{1,2}}[-/.](\d{{4}}|\d{{2}})\b"
            rf"|\b\d{{1,2}}[ -]{_MONTH}[ ,-]*\d{{2,4}}\b|\b{_MONTH} \d{{1,2}},? \d{{4}}\b",
            re.IGNORECASE,
        ),
    ),
    ("e-mail addresses", re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)),
    ("NHS or social-security number shapes", re.compile(r"\b\d{3}[ -]\d{3}[ -]\d{4}\b|\b\d{3}-\d{2}-\d{4}\b")),
    ("DICOM UIDs", UID_PATTERN),
    ("runs of 6 or more digits", re.compile(r"\d{6,}")),
    ("record-number-like codes", re.compile(r"\b[a-z]{1,6}[-_/#:]?\d{5,}[a-z]?\b", re.IGNORECASE)),
)


def normalize_column(column: str) -> str:
    """``SOP_Instance_UID`` and ``sopinstanceuid`` match: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", column.lower())


def is_clinical(column: str) -> bool:
    """True for the known non-identifying clinical columns (``sex``, ``Age-Group``, ``body part``, ...)."""
    return normalize_column(column) in CLINICAL_COLUMNS


def annex_e_keyword(column: str) -> str | None:
    """The Annex E keyword a column name spells (``patient_birth_date`` -> ``PatientBirthDate``), else None."""
    return _ANNEX_E.get(normalize_column(column))


def looks_identifying(column: str) -> bool:
    """True for names such as ``PatientID``, ``birth_date``, ``SOPInstanceUID``, ``dob``, ``e-mail``, ``zip``."""
    if is_clinical(column):
        return False
    raw = _NAME_RAW.search(column) or _NAME_CASE.search(column)
    return bool(raw or _NAME_NORM.search(normalize_column(column)) or annex_e_keyword(column))


def identifying_value(value: str) -> str | None:
    """What an identifier-like value looks like (``dates``, ``e-mail addresses``, ...), else None."""
    text = str(value).strip()
    for kind, pattern in _VALUES:
        if pattern.search(text):
            return kind
    return None
